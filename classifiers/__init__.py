"""Quality and domain classifiers: training, inference, and the Nemotron-CC bucket ensemble."""
