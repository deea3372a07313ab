"""Command-centre dashboard figures, read from the pre-aggregated ``case_stat`` table."""
