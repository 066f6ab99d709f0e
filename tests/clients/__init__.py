"""Real client suites against the daemon: ethers, web3.py, viem, cast, forge, a browser."""
