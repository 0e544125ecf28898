//! Conformance with the official OpenMeter Python client (PyPI `openmeter`).
