-- Invoice and receipt mails name the invoice whose PDF they attach; the
-- PDF is rendered when the mail is sent, not stored in the transaction
-- that issues the invoice (issue 18).
ALTER TABLE emails ADD COLUMN attachment_invoice TEXT NOT NULL DEFAULT '';
