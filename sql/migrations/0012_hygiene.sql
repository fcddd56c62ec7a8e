-- Issue 15, part C.
-- Refunds that add up: a Stars refund takes back what the balance holds; what was spent on videos
-- still under way is claimed from their refunds. refund_claim is the part of this generation's
-- refund (if it ever comes: a failure, a cancel, a render past its deadline) that goes to a Stars
-- refund's shortfall instead of the balance, so credits never come back from a refunded purchase.
ALTER TABLE generations ADD COLUMN refund_claim integer NOT NULL DEFAULT 0;
ALTER TABLE generations ADD CONSTRAINT refund_claim_within_price CHECK (refund_claim BETWEEN 0 AND price);

