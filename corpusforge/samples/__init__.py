"""Demo input the project generates: sample WARCs and planted evaluation items."""
