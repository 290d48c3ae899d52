-- Issue 18: an invoice's or receipt's PDF is rendered by the mail job, not
-- inside the transaction that issues the invoice. attachment_source holds
-- what the PDF is rendered from (the document as issued, JSON) until the
-- job renders it into attachment, once, and empties it.
ALTER TABLE emails ADD COLUMN attachment_source TEXT NOT NULL DEFAULT '';
