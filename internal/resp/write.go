package resp

import "strconv"

// AppendArrayHeader appends "*n\r\n".
func appendArrayHeader(b []byte, n int) []byte {
	b = append(b, '*')
	b = strconv.AppendInt(b, int64(n), 10)
	return append(b, '\r', '\n')
}

func appendBulkHeader(b []byte, n int) []byte {
	b = append(b, '$')
	b = strconv.AppendInt(b, int64(n), 10)
	return append(b, '\r', '\n')
}

// AppendCommand appends args encoded as a RESP multibulk command.
func AppendCommand(b []byte, args ...string) []byte {
	b = appendArrayHeader(b, len(args))
	for _, a := range args {
		b = appendBulkHeader(b, len(a))
		b = append(b, a...)
		b = append(b, '\r', '\n')
	}
	return b
}

// AppendError appends an error reply. msg must start with the error code ("ERR …", "NOAUTH …") and must
// not contain CR or LF; any that slip through are replaced by spaces, as Redis does.
func AppendError(b []byte, msg string) []byte {
	b = append(b, '-')
	for i := 0; i < len(msg); i++ {
		c := msg[i]
		if c == '\r' || c == '\n' {
			c = ' '
		}
		b = append(b, c)
	}
	return append(b, '\r', '\n')
}

// AppendSimple appends a status reply such as "+OK".
func AppendSimple(b []byte, s string) []byte {
	b = append(b, '+')
	b = append(b, s...)
	return append(b, '\r', '\n')
}

// AppendBulk appends a bulk string reply.
func AppendBulk(b []byte, s []byte) []byte {
	b = appendBulkHeader(b, len(s))
	b = append(b, s...)
	return append(b, '\r', '\n')
}

// AppendInt appends an integer reply.
func AppendInt(b []byte, n int64) []byte {
	b = append(b, ':')
	b = strconv.AppendInt(b, n, 10)
	return append(b, '\r', '\n')
}

// AppendArray appends an array header for n elements ("*n").
func AppendArray(b []byte, n int) []byte { return appendArrayHeader(b, n) }

// AppendMap appends a map header for n pairs: "%n" in RESP3, a flat array of 2n elements in RESP2, as
// Redis's addReplyMapLen does.
func AppendMap(b []byte, n int, resp3 bool) []byte {
	if !resp3 {
		return appendArrayHeader(b, 2*n)
	}
	b = append(b, '%')
	b = strconv.AppendInt(b, int64(n), 10)
	return append(b, '\r', '\n')
}

// AppendSet appends a set header for n elements: "~n" in RESP3, an array in RESP2 (addReplySetLen).
func AppendSet(b []byte, n int, resp3 bool) []byte {
	if !resp3 {
		return appendArrayHeader(b, n)
	}
	b = append(b, '~')
	b = strconv.AppendInt(b, int64(n), 10)
	return append(b, '\r', '\n')
}

// AppendNull appends a null reply: "_" in RESP3, the null bulk string in RESP2 (addReplyNull).
func AppendNull(b []byte, resp3 bool) []byte {
	if resp3 {
		return append(b, '_', '\r', '\n')
	}
	return append(b, "$-1\r\n"...)
}

// AppendDouble appends a double as Redis 7.0's addReplyDouble does: "%.17g" text, as a bulk string in
// RESP2 and a "," double in RESP3.
func AppendDouble(b []byte, f float64, resp3 bool) []byte {
	var buf [32]byte
	s := strconv.AppendFloat(buf[:0], f, 'g', 17, 64)
	if !resp3 {
		return AppendBulk(b, s)
	}
	b = append(b, ',')
	b = append(b, s...)
	return append(b, '\r', '\n')
}

// AppendBulkString appends a bulk string reply holding s.
func AppendBulkString(b []byte, s string) []byte {
	b = appendBulkHeader(b, len(s))
	b = append(b, s...)
	return append(b, '\r', '\n')
}
