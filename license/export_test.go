package license

// EncodeFile exposes the encoder to the external tests (fuzzing checks that
// Parse accepts only what the encoder writes).
var EncodeFile = encodeFile
