package services

// ProbeUnits is the unit-file probe section, for tests that run it on a real root.
const ProbeUnits = probeUnits
