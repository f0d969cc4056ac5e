"""Facilities: mines, camps, factories and farms, with aliases and the quotes naming them."""
