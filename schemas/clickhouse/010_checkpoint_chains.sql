-- Chains of checkpoints: a checkpoint of changes holds only what changed since the checkpoint
-- before it (`previous`), and restores on top of the chain back to a whole checkpoint
-- (`base`). A whole checkpoint is its own base and previous, as every checkpoint saved before
-- this migration was.
ALTER TABLE state_checkpoints ADD COLUMN base UInt64 DEFAULT checkpoint;
ALTER TABLE state_checkpoints ADD COLUMN previous UInt64 DEFAULT checkpoint;
