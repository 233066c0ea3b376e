"""Village loudspeakers (村村响): broadcast scripts, their audio, and posting them to IP-broadcast controllers."""
