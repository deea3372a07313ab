"""Handling departments and agencies (职能部门): below users (a department handler belongs to one) and cases
(cases are dispatched to one); knows neither."""
