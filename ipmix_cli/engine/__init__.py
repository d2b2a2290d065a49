"""The engine: pure functions that turn one image into one augmented image (SPEC §1).

Nothing here reads or writes files; every random draw comes from the generator it is handed.
"""
