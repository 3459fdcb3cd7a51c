"""The lab engine: plain Python, no Django. A spec becomes a plan; the executor runs it.

Only :mod:`docker_runtime` imports docker and only :mod:`netlink` imports
pyroute2, so the web tier (which imports neither) cannot touch the host.
"""
