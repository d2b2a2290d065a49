"""The ``augment`` job: readers turn IN into work items, workers turn items into outputs and records,
writers store them, backends distribute the work, and the driver keeps the manifest and the run record."""
