"""Where records go: EVE JSON lines to a file (rotated), stdout, syslog and
Redis streams, fanned out by engine.sinks.fanout; Zeek logs later."""
