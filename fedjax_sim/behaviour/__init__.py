"""Client behaviour and schedules: who is online, how fast, who straggles, drops
out or attacks, and the virtual clock and asynchronous FedBuff built on them."""
