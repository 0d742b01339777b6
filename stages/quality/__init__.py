"""Quality scoring: the classifier ensemble's buckets and tiers, and domain scores."""
