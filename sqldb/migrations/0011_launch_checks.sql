-- Launch checks (issue 18): a launch looks up whether each village is paired in a
-- running cycle, and the launch page lists the lagging villages left unpaired.
CREATE INDEX pairings_village ON pairings (village_code, stage);
