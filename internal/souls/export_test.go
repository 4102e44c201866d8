package souls

// DemoSoul is testSoul for the external tests (package souls_test, which may import pkg/chaos).
var DemoSoul = testSoul
