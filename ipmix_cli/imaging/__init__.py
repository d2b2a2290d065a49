"""Reading images faithfully (orientation, modes, bombs) and encoding outputs."""
