-- Placeholder so migration numbers stay 1..N on the settings branch (issue 14):
-- another branch owns number 0006. At merge, drop this file in favour of the real 0006.
SELECT 1;
