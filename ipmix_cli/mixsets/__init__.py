"""Mixing sets: folders of mixing pictures, the procedural fractals, and the built-in set (SPEC §1.5, §3)."""
