"""``python -m demo``: a scripted session against the simulator and the local fake Discord."""
