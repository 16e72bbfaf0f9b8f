// Package gateway serves the functions of a transport.Handler over HTTP,
// as slacker's HTTP gateway does: a POST to /<namespace>/<function>.json
// (or .clj, .nippy, .msgpack; .edn is .clj) with the arguments as an array
// in the body answers the function's result, serialized the same way, with
// the Content-Type slacker's gateway gives it: application/json,
// application/clj, application/nippy or application/msgpack.
//
//	curl -d '[1, 2]' http://127.0.0.1:2105/slacker.example.math/add.json
//
// The status tells how the call ended:
//
//	200 the result is the body
//	400 the body is not an argument array (the body says what it is
//	    instead), or the content type is unknown
//	401 Config.Authenticate refused the request's token, or it had none
//	403 the call was refused
//	404 no such function, or nothing served at the path
//	405 a function's path requested with another method than POST
//	413 the body is larger than Config.MaxBodySize, or its arguments would
//	    take more memory decoded than transport.DecodeBudget allows (code
//	    "exception")
//	500 the function failed: the body is its error message
//	503 the function's namespace has too many calls waiting
//	504 the call ran out of time
//
// The body of an answer other than 200 is the error message, a string
// serialized in the content type the path names (JSON when it names
// none, plain text when it names one the gateway does not know); the
// X-Slacker-Code header has slacker's result code, such as "not-found"
// or "exception". Paths the gateway does not serve are answered so too:
// 404, code "not-found".
//
// GET / (or /_inspect) answers a JSON list of the served functions with
// their parameters and doc comments.
package gateway
