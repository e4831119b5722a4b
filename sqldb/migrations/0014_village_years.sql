-- Village records over time (issue 18): a village's collective income, population
-- and class year by year, as imported; the latest year is the directory's too.
CREATE TABLE village_years (
    village_code          TEXT NOT NULL REFERENCES villages (code),
    year                  INTEGER NOT NULL,
    collective_income_wan TEXT NOT NULL,
    population            INTEGER NOT NULL DEFAULT 0,
    class                 INTEGER NOT NULL DEFAULT 0,   -- 0: not given
    PRIMARY KEY (village_code, year)
);
