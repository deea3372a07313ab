"""Working-time calendar (工作日历): workdays per the national holiday arrangement plus local overrides, and
deadlines counted in working hours, working days or natural hours."""
