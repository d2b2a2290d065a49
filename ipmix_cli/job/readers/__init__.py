"""Readers: how inputs are found in IN and opened in the workers, one module per input format."""
