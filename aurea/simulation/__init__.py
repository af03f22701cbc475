"""Simulated traffic against Aurea and the policies it is compared with (flask aurea simulate)."""
