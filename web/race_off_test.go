//go:build !race

package web_test

// raceDetector reports a build with -race, which runs this code several times slower.
const raceDetector = false
