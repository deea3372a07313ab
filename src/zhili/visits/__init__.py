"""Household visits (入户走访) by grid workers: records, coverage and follow-up cases."""
