-- The simulated clock (serve --simulated-clock), shared by every copy of the
-- server. One row, absent on a database served on the real clock. today is
-- the simulated date; an advance under way records its target date and the
-- lease of the request doing it (owner, until in Unix milliseconds), so a
-- crash leaves a record the next advance continues from.
CREATE TABLE sim_clock (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    today       DATE NOT NULL,
    advance_to  DATE,
    lease_owner TEXT,
    lease_until BIGINT NOT NULL DEFAULT 0
);
