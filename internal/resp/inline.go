package resp

// splitArgs splits an inline command line into arguments with the rules of Redis's sdssplitargs:
// arguments are separated by spaces; "double quoted" arguments understand \n \r \t \b \a \\ \" and \xHH;
// 'single quoted' ones understand \'; a closing quote must be followed by a space or the end of the line.
// Arguments are appended to dst; quoted ones are copies, the others alias line.
func splitArgs(line []byte, dst [][]byte) ([][]byte, error) {
	i := 0
	for {
		for i < len(line) && isSpace(line[i]) {
			i++
		}
		if i == len(line) {
			return dst, nil
		}
		if line[i] != '"' && line[i] != '\'' {
			start := i
			for i < len(line) && !isWordEnd(line[i]) && line[i] != '"' && line[i] != '\'' {
				i++
			}
			if i < len(line) && !isWordEnd(line[i]) {
				// a quote inside a bare word starts a quoted part of the same argument
				arg, next, err := quotedTail(line, i, append([]byte(nil), line[start:i]...))
				if err != nil {
					return dst, err
				}
				dst = append(dst, arg)
				i = next
				continue
			}
			dst = append(dst, line[start:i:i])
			continue
		}
		arg, next, err := quotedTail(line, i, nil)
		if err != nil {
			return dst, err
		}
		dst = append(dst, arg)
		i = next
	}
}

// quotedTail reads the rest of an argument that continues with a quote at line[i].
func quotedTail(line []byte, i int, cur []byte) ([]byte, int, error) {
	for i < len(line) && !isSpace(line[i]) {
		switch line[i] {
		case '"':
			i++
			for {
				if i >= len(line) {
					return nil, 0, errUnbalancedQuotes
				}
				c := line[i]
				if c == '\\' && i+3 < len(line) && line[i+1] == 'x' && isHex(line[i+2]) && isHex(line[i+3]) {
					cur = append(cur, hexVal(line[i+2])<<4|hexVal(line[i+3]))
					i += 4
					continue
				}
				if c == '\\' && i+1 < len(line) {
					i++
					switch line[i] {
					case 'n':
						cur = append(cur, '\n')
					case 'r':
						cur = append(cur, '\r')
					case 't':
						cur = append(cur, '\t')
					case 'b':
						cur = append(cur, '\b')
					case 'a':
						cur = append(cur, '\a')
					default:
						cur = append(cur, line[i])
					}
					i++
					continue
				}
				if c == '"' {
					i++
					if i < len(line) && !isSpace(line[i]) {
						return nil, 0, errUnbalancedQuotes
					}
					break
				}
				cur = append(cur, c)
				i++
			}
		case '\'':
			i++
			for {
				if i >= len(line) {
					return nil, 0, errUnbalancedQuotes
				}
				c := line[i]
				if c == '\\' && i+1 < len(line) && line[i+1] == '\'' {
					cur = append(cur, '\'')
					i += 2
					continue
				}
				if c == '\'' {
					i++
					if i < len(line) && !isSpace(line[i]) {
						return nil, 0, errUnbalancedQuotes
					}
					break
				}
				cur = append(cur, c)
				i++
			}
		default:
			cur = append(cur, line[i])
			i++
		}
	}
	if cur == nil {
		cur = []byte{}
	}
	return cur, i, nil
}

// isWordEnd reports a byte that ends a bare word: unlike isSpace (C's isspace, used between arguments and
// after a closing quote), sdssplitargs keeps '\v' and '\f' inside a word.
func isWordEnd(c byte) bool {
	return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == 0
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\v' || c == '\f' || c == 0
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func hexVal(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}
