//go:build !race

package main

// raceDetector reports a build with -race, which runs this code several times slower.
const raceDetector = false
