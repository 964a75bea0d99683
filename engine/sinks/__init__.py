"""Where records go: EVE JSON lines now; Zeek logs, syslog and buses later."""
