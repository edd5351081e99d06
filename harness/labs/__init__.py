"""Other engines that run our cells: LAVA (job definition, device dictionary, lava-run, a server's REST
API, reading a job's log) and CI services (generated workflows). May import: vm and below."""
