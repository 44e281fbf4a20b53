-- The word-guessing game (GameServ, worker/game.c): games, their players and
-- results, the word of every round, and the leaderboard as a view.

CREATE TABLE games (
    id              bigserial PRIMARY KEY,
    room            text NOT NULL,                -- "#game-<id>"
    category        text NOT NULL,                -- a word list: words/<category>.<lang>.txt
    lang            text,                         -- NULL: every language of the category
    rounds          integer NOT NULL CHECK (rounds BETWEEN 1 AND 20),
    inviter         text NOT NULL,                -- nick
    inviter_account text,
    state           text NOT NULL DEFAULT 'inviting'
                    CHECK (state IN ('inviting', 'running', 'finished', 'cancelled', 'aborted')),
    created         timestamptz NOT NULL DEFAULT now(),
    started         timestamptz,
    ended           timestamptz
);
CREATE INDEX games_open ON games (state) WHERE state IN ('inviting', 'running');

-- One row per player, written when the game starts; score and result are
-- written by the statement that ends the game.
-- player: who the leaderboard counts, the folded account name when the
-- player was logged in, else the folded nick.
CREATE TABLE game_players (
    game    bigint NOT NULL REFERENCES games (id) ON DELETE CASCADE,
    player  text NOT NULL,
    nick    text NOT NULL,
    account text,
    score   integer NOT NULL DEFAULT 0,
    result  text CHECK (result IN ('win', 'lose', 'draw')),
    PRIMARY KEY (game, player)
);
CREATE INDEX game_players_player ON game_players (player);

-- The secret of every round, written when the round starts.
CREATE TABLE game_rounds (
    game     bigint NOT NULL REFERENCES games (id) ON DELETE CASCADE,
    round    integer NOT NULL,
    word     text NOT NULL,
    lang     text NOT NULL,
    started  timestamptz NOT NULL DEFAULT now(),
    ended    timestamptz,
    winner   text,                                -- nick; NULL when nobody found it
    points   integer,
    PRIMARY KEY (game, round)
);

-- Finished games only: wins, draws, losses, games and points per player and
-- category.  `shown_as` is the nick the player last played under.
CREATE VIEW game_leaderboard AS
SELECT g.category,
       p.player,
       (array_agg(p.nick ORDER BY g.ended DESC))[1] AS shown_as,
       count(*) FILTER (WHERE p.result = 'win')  AS wins,
       count(*) FILTER (WHERE p.result = 'draw') AS draws,
       count(*) FILTER (WHERE p.result = 'lose') AS losses,
       count(*)                                  AS games,
       sum(p.score)                              AS points
  FROM game_players p
  JOIN games g ON g.id = p.game
 WHERE g.state = 'finished' AND p.result IS NOT NULL
 GROUP BY g.category, p.player;
