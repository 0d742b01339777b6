"""Web pages: URL filtering and main-content extraction from HTML."""
