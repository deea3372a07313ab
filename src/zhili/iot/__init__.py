"""IoT perception (物联感知): device types and devices, MQTT ingest, alert rules, alerts that become cases through
the intake every channel uses. See docs/iot.md."""
