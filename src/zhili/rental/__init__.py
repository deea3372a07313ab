"""Rental housing and floating population (出租房屋与流动人口): rooms, stays, real-name check-in and check-out,
electronic keys, police registration deliveries and the rental rules. See docs/rental.md."""
