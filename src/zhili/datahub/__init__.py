"""Data hub (数据中台): every department's data imported once — sources, connectors, mapping templates,
validation and quarantine, quality, address parsing, entity resolution into golden records with provenance."""
