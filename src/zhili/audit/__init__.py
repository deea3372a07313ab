"""The audit log as a domain: reading it, verifying the chain, for auditors (三员分立). The chain itself — writing,
hashing, anchors — is plumbing in :mod:`zhili.core.audit`, used by every service."""
