"""The staff workbench (工作台): the figures each staff role opens every morning, read through the services of the
domains below (cases, dashboard, visits, participation, users, configuration) so permission and jurisdiction are
enforced where the data lives. It writes nothing."""
