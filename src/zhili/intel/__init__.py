"""Intelligence (智能研判): text classification and routing, duplicate suggestions, hot issues, spatial hotspots,
early warnings and grid risk — trained by the platform from its own data, each measured on held-out data.

The case loop does not import this package: intake declares the interface it calls
(:mod:`zhili.cases.suggest`) and :mod:`zhili.intel.routing` plugs into it, so with no model trained the loop
behaves exactly as before.
"""
