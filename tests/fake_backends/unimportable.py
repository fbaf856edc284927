"""A backend whose framework is not installed: importing it fails."""

raise ImportError("No module named 'fakeframework' (simulated missing framework)")
