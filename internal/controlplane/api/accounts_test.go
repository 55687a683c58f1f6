package api_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/services/r_kvstore"

	"github.com/moat-dev/moat/internal/acl"
	"github.com/moat-dev/moat/internal/redistest"
)

// conn is one client connection to an instance, from a chosen local address.
type conn struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dialFrom(t *testing.T, addr, src string) *conn {
	t.Helper()
	d := net.Dialer{Timeout: 2 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &conn{t, c, bufio.NewReader(c)}
}

// do sends one command (as a RESP array) and returns its reply: a status or error line as sent
// ("+OK", "-NOPERM …"), a bulk string's payload, an integer as ":n", an array's items joined by spaces.
func (c *conn) do(args ...string) string {
	c.t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	c.c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.c.Write([]byte(b.String())); err != nil {
		return "write error: " + err.Error()
	}
	return c.reply()
}

func (c *conn) reply() string {
	line, err := c.br.ReadString('\n')
	if err != nil {
		return "read error: " + err.Error()
	}
	line = strings.TrimRight(line, "\r\n")
	switch {
	case line == "$-1" || line == "*-1":
		return "(nil)"
	case strings.HasPrefix(line, "$"):
		n, _ := strconv.Atoi(line[1:])
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(c.br, buf); err != nil {
			return "read error: " + err.Error()
		}
		return string(buf[:n])
	case strings.HasPrefix(line, "*"):
		n, _ := strconv.Atoi(line[1:])
		items := make([]string, n)
		for i := range items {
			items[i] = c.reply()
		}
		return strings.Join(items, " ")
	}
	return line
}

// login connects from src and sends AUTH with args; it returns the connection and AUTH's reply.
func (m *moat) login(src string, args ...string) (*conn, string) {
	m.t.Helper()
	c := dialFrom(m.t, m.listen, src)
	return c, c.do(append([]string{"AUTH"}, args...)...)
}

// accounts is DescribeAccounts through the typed SDK call, by name.
func (m *moat) accounts(name string) (map[string]r_kvstore.Account, []string) {
	m.t.Helper()
	req := at(m, r_kvstore.CreateDescribeAccountsRequest())
	req.InstanceId, req.AccountName = m.inst, name
	resp, err := m.admin().DescribeAccounts(req)
	if err != nil {
		m.t.Fatalf("DescribeAccounts: %v", err)
	}
	out := map[string]r_kvstore.Account{}
	var order []string
	for _, a := range resp.Accounts.Account {
		out[a.AccountName] = a
		order = append(order, a.AccountName)
	}
	return out, order
}

func privilegeOf(a r_kvstore.Account) (string, string) {
	p := a.DatabasePrivileges.DatabasePrivilege
	if len(p) != 1 {
		return "", fmt.Sprintf("%d privileges", len(p))
	}
	return p[0].AccountPrivilege, p[0].AccountPrivilegeDetail
}

const (
	rwRules = "~* &* +@all -@dangerous +info"
	roRules = "~* &* -@all +@read +@connection -@dangerous +info"
)

// The official SDK's typed account calls work against moat unchanged, and each one is what a client of
// the instance then sees: an account logs in with AUTH name password (or name:password), RoleReadWrite
// writes but runs no @dangerous command, RoleReadOnly only reads, a reset password replaces the old one,
// a grant replaces the permissions, a deleted account cannot log in. Everything survives a restart.
func TestSDKAccountCalls(t *testing.T) {
	m := startMoat(t)
	m.modify(m.inst, "local", "Cover", "127.0.0.0/8")
	c := m.admin()

	create := at(m, r_kvstore.CreateCreateAccountRequest())
	create.InstanceId, create.AccountName, create.AccountPassword, create.AccountDescription = m.inst, "app", "App_pass1", "orders"
	resp, err := c.CreateAccount(create)
	if err != nil {
		t.Fatal(err)
	}
	if resp.AcountName != "app" || resp.InstanceId != m.inst || resp.RequestId == "" {
		t.Fatalf("CreateAccount answered %+v", resp)
	}
	create = at(m, r_kvstore.CreateCreateAccountRequest())
	create.InstanceId, create.AccountName, create.AccountPassword = m.inst, "report", "Rep0rt_pass"
	create.AccountPrivilege, create.AccountType = "RoleReadOnly", "Normal"
	if _, err := c.CreateAccount(create); err != nil {
		t.Fatal(err)
	}

	accts, order := m.accounts("")
	if strings.Join(order, ",") != "app,default,report" {
		t.Fatalf("DescribeAccounts lists %v", order)
	}
	app := accts["app"]
	if app.AccountStatus != "Available" || app.AccountType != "Normal" || app.AccountDescription != "orders" || app.InstanceId != m.inst {
		t.Fatalf("app as described: %+v", app)
	}
	for name, want := range map[string][2]string{"app": {"RoleReadWrite", rwRules}, "report": {"RoleReadOnly", roRules}, "default": {"RoleCustom", "~* &* +@all"}} {
		if role, detail := privilegeOf(accts[name]); role != want[0] || detail != want[1] {
			t.Errorf("%s: privilege %s %q, want %s %q", name, role, detail, want[0], want[1])
		}
	}
	if one, order := m.accounts("report"); len(order) != 1 || one["report"].AccountName != "report" {
		t.Fatalf("DescribeAccounts AccountName=report: %v", order)
	}

	// Through the gateway: the roles' rules.
	rw, reply := m.login("127.0.0.2", "app", "App_pass1")
	if reply != "+OK" {
		t.Fatalf("AUTH app: %q", reply)
	}
	for _, tc := range []struct{ cmd, want string }{
		{"SET k v", "+OK"},
		{"GET k", "v"},
		{"KEYS *", "-NOPERM this user has no permissions to run the 'keys' command"},
		{"FLUSHALL", "-NOPERM this user has no permissions to run the 'flushall' command"},
		{"CONFIG GET maxmemory", "-NOPERM this user has no permissions to run the 'config|get' command"},
		{"ACL SETUSER app +@all", "-NOPERM this user has no permissions to run the 'acl|setuser' command"},
	} {
		if got := rw.do(strings.Fields(tc.cmd)...); got != tc.want {
			t.Errorf("app: %s → %q, want %q", tc.cmd, got, tc.want)
		}
	}
	if got := rw.do("INFO"); strings.HasPrefix(got, "-") {
		t.Errorf("app: INFO → %q, want it served", got)
	}
	ro, reply := m.login("127.0.0.2", "report:Rep0rt_pass")
	if reply != "+OK" {
		t.Fatalf("AUTH report:… (one argument): %q", reply)
	}
	for _, tc := range []struct{ cmd, want string }{
		{"GET k", "v"},
		{"PING", "+PONG"},
		{"SET k w", "-NOPERM this user has no permissions to run the 'set' command"},
		{"DEL k", "-NOPERM this user has no permissions to run the 'del' command"},
		{"PUBLISH ch x", "-NOPERM this user has no permissions to run the 'publish' command"},
		{"EVAL return 1 0", "-NOPERM this user has no permissions to run the 'eval' command"},
		{"KEYS *", "-NOPERM this user has no permissions to run the 'keys' command"},
	} {
		if got := ro.do(strings.Fields(tc.cmd)...); got != tc.want {
			t.Errorf("report: %s → %q, want %q", tc.cmd, got, tc.want)
		}
	}

	mod := at(m, r_kvstore.CreateModifyAccountDescriptionRequest())
	mod.InstanceId, mod.AccountName, mod.AccountDescription = m.inst, "app", "orders-v2"
	if _, err := c.ModifyAccountDescription(mod); err != nil {
		t.Fatal(err)
	}
	reset := at(m, r_kvstore.CreateResetAccountPasswordRequest())
	reset.InstanceId, reset.AccountName, reset.AccountPassword = m.inst, "app", "N3w_app_pass"
	if _, err := c.ResetAccountPassword(reset); err != nil {
		t.Fatal(err)
	}
	if _, r := m.login("127.0.0.2", "app", "App_pass1"); r != "-WRONGPASS invalid username-password pair or user is disabled." {
		t.Fatalf("AUTH with the old password: %q", r)
	}
	if _, r := m.login("127.0.0.2", "app", "N3w_app_pass"); r != "+OK" {
		t.Fatalf("AUTH with the new password: %q", r)
	}

	grant := at(m, r_kvstore.CreateGrantAccountPrivilegeRequest())
	grant.InstanceId, grant.AccountName, grant.AccountPrivilege = m.inst, "app", "RoleReadOnly"
	if _, err := c.GrantAccountPrivilege(grant); err != nil {
		t.Fatal(err)
	}
	if got := rw.do("SET", "k", "x"); got != "-NOPERM this user has no permissions to run the 'set' command" {
		t.Fatalf("an established connection of app after the grant: SET → %q", got)
	}
	accts, _ = m.accounts("app")
	if role, _ := privilegeOf(accts["app"]); role != "RoleReadOnly" || accts["app"].AccountDescription != "orders-v2" {
		t.Fatalf("app after grant and modify: %s %+v", role, accts["app"])
	}

	del := at(m, r_kvstore.CreateDeleteAccountRequest())
	del.InstanceId, del.AccountName = m.inst, "report"
	if _, err := c.DeleteAccount(del); err != nil {
		t.Fatal(err)
	}
	if _, r := m.login("127.0.0.2", "report", "Rep0rt_pass"); !strings.HasPrefix(r, "-WRONGPASS") {
		t.Fatalf("AUTH as a deleted account: %q", r)
	}
	req := at(m, r_kvstore.CreateDescribeAccountsRequest())
	req.InstanceId, req.AccountName = m.inst, "report"
	_, err = c.DescribeAccounts(req)
	wantSDKError(t, err, 404, "InvalidAccountName.NotFound")

	// Each change is one audit entry naming the key; then a restart keeps everything.
	for _, action := range []string{"CreateAccount", "ModifyAccountDescription", "ResetAccountPassword", "GrantAccountPrivilege", "DeleteAccount"} {
		out := m.mustCall("DescribeAuditLogs", map[string]string{"InstanceId": m.inst, "ActionName": action})
		entries := out["AuditLogs"].(map[string]any)["AuditLog"].([]any)
		if len(entries) == 0 || entries[0].(map[string]any)["key_id"] != m.keyID || entries[0].(map[string]any)["result"] != "ok" {
			t.Errorf("audit of %s: %v", action, entries)
		}
	}
	m.restart()
	accts, order = m.accounts("")
	if strings.Join(order, ",") != "app,default" || accts["app"].AccountDescription != "orders-v2" {
		t.Fatalf("after a restart: %v %+v", order, accts["app"])
	}
	if _, r := m.login("127.0.0.2", "app", "N3w_app_pass"); r != "+OK" {
		t.Fatalf("AUTH after a restart: %q", r)
	}
}

// aclState is what a caller can see of the users: DescribeACLUsers and DescribeAccounts, RequestId
// removed.
func (m *moat) aclState() string {
	m.t.Helper()
	a := m.mustCall("DescribeACLUsers", map[string]string{"InstanceId": m.inst})
	b := m.mustCall("DescribeAccounts", map[string]string{"InstanceId": m.inst})
	delete(a, "RequestId")
	delete(b, "RequestId")
	out, _ := json.Marshal([]any{a, b})
	return string(out)
}

// Every refused account or ACL call answers a provider-style code with a 4xx status and the full error
// JSON, and changes no user, description or source restriction.
func TestAccountBadInputIsRefusedAndChangesNothing(t *testing.T) {
	m := startMoat(t)
	m.modify(m.inst, "app_servers", "Cover", "10.1.0.0/16")
	m.mustCall("CreateAccount", map[string]string{"InstanceId": m.inst, "AccountName": "app", "AccountPassword": "App_pass1", "AccountDescription": "orders"})
	m.mustCall("ModifyAccountSources", map[string]string{"InstanceId": m.inst, "UserName": "app", "Sources": "10.0.0.0/8,app_servers"})

	acct := func(kv ...string) map[string]string {
		p := map[string]string{"InstanceId": m.inst}
		for i := 0; i+1 < len(kv); i += 2 {
			p[kv[i]] = kv[i+1]
		}
		return p
	}
	create := func(name, pass string, kv ...string) map[string]string {
		return acct(append([]string{"AccountName", name, "AccountPassword", pass}, kv...)...)
	}
	const pw = "Good_pass1"
	type tc struct {
		name    string
		action  string
		params  map[string]string
		status  int
		code    string
		message string
	}
	cases := []tc{
		// Account names.
		{"name of 1", "CreateAccount", create("a", pw), 400, "InvalidAccountName.Format", `"a"`},
		{"name of 17", "CreateAccount", create("a234567890123456x", pw), 400, "InvalidAccountName.Format", "2 to 16"},
		{"uppercase name", "CreateAccount", create("App", pw), 400, "InvalidAccountName.Format", "lowercase"},
		{"leading digit", "CreateAccount", create("1app", pw), 400, "InvalidAccountName.Format", "start with a lowercase letter"},
		{"leading underscore", "CreateAccount", create("_app", pw), 400, "InvalidAccountName.Format", `"_app"`},
		{"trailing underscore", "CreateAccount", create("app_", pw), 400, "InvalidAccountName.Format", "end with a lowercase letter or digit"},
		{"hyphen", "CreateAccount", create("app-1", pw), 400, "InvalidAccountName.Format", `"app-1"`},
		{"reserved root", "CreateAccount", create("root", pw), 400, "InvalidAccountName.Format", "reserved"},
		{"reserved admin", "CreateAccount", create("admin", pw), 400, "InvalidAccountName.Format", "reserved"},
		{"existing account", "CreateAccount", create("app", pw), 400, "InvalidAccountName.Duplicate", `"app"`},
		{"the default user", "CreateAccount", create("default", pw), 400, "InvalidAccountName.Duplicate", `"default"`},
		{"no name", "CreateAccount", acct("AccountPassword", pw), 400, "MissingParameter", "AccountName"},
		// Passwords: the message never repeats the password.
		{"password of 7", "CreateAccount", create("bob", "Ab1_xyz"), 400, "InvalidAccountPassword.Format", "8 to 32"},
		{"password of 33", "CreateAccount", create("bob", "Ab1_"+strings.Repeat("x", 29)), 400, "InvalidAccountPassword.Format", "33 characters"},
		{"two kinds", "CreateAccount", create("bob", "abcdefgh1"), 400, "InvalidAccountPassword.Format", "at least three"},
		{"a space", "CreateAccount", create("bob", "Abc 1234_"), 400, "InvalidAccountPassword.Format", "character 4"},
		{"not ASCII", "CreateAccount", create("bob", "Abcd1234é"), 400, "InvalidAccountPassword.Format", "not allowed"},
		{"no password", "CreateAccount", acct("AccountName", "bob"), 400, "MissingParameter", "AccountPassword"},
		// Privileges, types, descriptions.
		{"unknown privilege", "CreateAccount", create("bob", pw, "AccountPrivilege", "RoleAdmin"), 400, "InvalidAccountPrivilege.ValueNotSupported", `"RoleAdmin"`},
		{"privilege in lowercase", "CreateAccount", create("bob", pw, "AccountPrivilege", "rolereadonly"), 400, "InvalidAccountPrivilege.ValueNotSupported", `"rolereadonly"`},
		{"RoleRepl", "CreateAccount", create("bob", pw, "AccountPrivilege", "RoleRepl"), 400, "InvalidAccountPrivilege.ValueNotSupported", "SYNC"},
		{"RoleCustom", "GrantAccountPrivilege", acct("AccountName", "app", "AccountPrivilege", "RoleCustom"), 400, "InvalidAccountPrivilege.ValueNotSupported", `"RoleCustom"`},
		{"unknown type", "CreateAccount", create("bob", pw, "AccountType", "Super"), 400, "InvalidAccountType.ValueNotSupported", `"Super"`},
		{"description of 1", "CreateAccount", create("bob", pw, "AccountDescription", "x"), 400, "InvalidAccountDescription.Format", "2 to 256"},
		{"description of 257", "CreateAccount", create("bob", pw, "AccountDescription", "x"+strings.Repeat("y", 256)), 400, "InvalidAccountDescription.Format", "2 to 256"},
		{"description starting with a digit", "CreateAccount", create("bob", pw, "AccountDescription", "1st"), 400, "InvalidAccountDescription.Format", "start with a letter"},
		{"description with a space", "CreateAccount", create("bob", pw, "AccountDescription", "my app"), 400, "InvalidAccountDescription.Format", `"my app"`},
		{"description as a URL", "ModifyAccountDescription", acct("AccountName", "app", "AccountDescription", "https://x"), 400, "InvalidAccountDescription.Format", "http"},
		{"no description", "ModifyAccountDescription", acct("AccountName", "app"), 400, "MissingParameter", "AccountDescription"},
		{"every problem at once", "CreateAccount", create("Bob", "short", "AccountDescription", "1st"), 400, "InvalidAccountName.Format", "AccountPassword must be"},
		// Accounts that do not exist, or cannot be changed.
		{"describe an unknown account", "DescribeAccounts", acct("AccountName", "nosuch"), 404, "InvalidAccountName.NotFound", `"nosuch"`},
		{"modify an unknown account", "ModifyAccountDescription", acct("AccountName", "nosuch", "AccountDescription", "xy"), 404, "InvalidAccountName.NotFound", `"nosuch"`},
		{"reset an unknown account", "ResetAccountPassword", acct("AccountName", "nosuch", "AccountPassword", pw), 404, "InvalidAccountName.NotFound", `"nosuch"`},
		{"reset to a bad password", "ResetAccountPassword", acct("AccountName", "app", "AccountPassword", "weakpassword"), 400, "InvalidAccountPassword.Format", "at least three"},
		{"grant to an unknown account", "GrantAccountPrivilege", acct("AccountName", "nosuch", "AccountPrivilege", "RoleReadOnly"), 404, "InvalidAccountName.NotFound", `"nosuch"`},
		{"grant nothing", "GrantAccountPrivilege", acct("AccountName", "app"), 400, "MissingParameter", "AccountPrivilege"},
		{"delete the default account", "DeleteAccount", acct("AccountName", "default"), 400, "OperationDenied.DefaultAccount", "default"},
		{"delete an unknown account", "DeleteAccount", acct("AccountName", "nosuch"), 404, "InvalidAccountName.NotFound", `"nosuch"`},
		{"accounts of an unknown instance", "CreateAccount", map[string]string{"InstanceId": "r-nosuch", "AccountName": "bob", "AccountPassword": pw}, 404, "InvalidInstanceId.NotFound", "r-nosuch"},
		// Raw ACL rules: Redis's texts.
		{"unknown command", "ModifyACLUser", acct("UserName", "app", "Rules", "+get +nosuch"), 400, "InvalidParameter.Rules", "ERR Error in ACL SETUSER modifier '+nosuch': Unknown command"},
		{"unmatched selector", "ModifyACLUser", acct("UserName", "app", "Rules", "on (~log:* +get"), 400, "InvalidParameter.Rules", "ERR Unmatched parenthesis in acl selector starting at '(~log:*'."},
		{"bad hash", "ModifyACLUser", acct("UserName", "app", "Rules", "#abc"), 400, "InvalidParameter.Rules", "'#abc'"},
		{"user name with a space", "ModifyACLUser", acct("UserName", "a b", "Rules", "on"), 400, "InvalidUserName.Format", "spaces"},
		{"no user name", "ModifyACLUser", acct("Rules", "on"), 400, "MissingParameter", "UserName"},
		{"delete the default user", "DeleteACLUser", acct("UserName", "default"), 400, "OperationDenied.DefaultUser", "'default' user cannot be removed"},
		{"delete an unknown user", "DeleteACLUser", acct("UserName", "nosuch"), 404, "InvalidUserName.NotFound", `"nosuch"`},
		{"describe an unknown user", "DescribeACLUsers", acct("UserName", "nosuch"), 404, "InvalidUserName.NotFound", `"nosuch"`},
		// aclfiles: ACL LOAD's texts, naming the file and line.
		{"aclfile line without user", "ImportACL", acct("ACLFile", "user default on nopass ~* &* +@all\nbob on\n"), 400, "InvalidParameter.ACLFile", "aclfile:2 should start with user keyword"},
		{"aclfile unknown command", "ImportACL", acct("ACLFile", "user bob on +nosuch\n", "FileName", "users.acl"), 400, "InvalidParameter.ACLFile", "users.acl:1: Error in applying operation '+nosuch'"},
		{"aclfile duplicate user", "ImportACL", acct("ACLFile", "user bob on\nuser bob off\n"), 400, "InvalidParameter.ACLFile", "Duplicate user 'bob' found on line 2"},
		{"aclfile every error named", "ImportACL", acct("ACLFile", "user bob on +nosuch\nuser eve #zz\n"), 400, "InvalidParameter.ACLFile", "no change to the previously active ACL rules"},
		{"empty aclfile", "ImportACL", acct("ACLFile", ""), 400, "MissingParameter", "ACLFile"},
		// Source restrictions.
		{"sources of an unknown user", "ModifyAccountSources", acct("UserName", "nosuch", "Sources", "10.0.0.1"), 404, "InvalidUserName.NotFound", `"nosuch"`},
		{"source with host bits", "ModifyAccountSources", acct("UserName", "app", "Sources", "10.0.0.5/24"), 400, "InvalidSources.Format", "10.0.0.0/24"},
		{"unknown group", "ModifyAccountSources", acct("UserName", "app", "Sources", "10.0.0.1,nosuch_group"), 400, "InvalidSources.Format", `"nosuch_group"`},
		{"source listed twice", "ModifyAccountSources", acct("UserName", "app", "Sources", "10.0.0.1,10.0.0.1"), 400, "InvalidSources.Format", "twice"},
		{"space in sources", "ModifyAccountSources", acct("UserName", "app", "Sources", "10.0.0.1, 10.0.0.2"), 400, "InvalidSources.Format", `" 10.0.0.2"`},
		{"empty item", "ModifyAccountSources", acct("UserName", "app", "Sources", "10.0.0.1,,10.0.0.2"), 400, "InvalidSources.Format", "empty"},
		{"no Sources", "ModifyAccountSources", acct("UserName", "app"), 400, "MissingParameter", "Sources"},
	}
	before := m.aclState()
	if !strings.Contains(before, `"Sources":["10.0.0.0/8","app_servers"]`) || !strings.Contains(before, `"AccountDescription":"orders"`) {
		t.Fatalf("setup: %s", before)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := m.wantRefused(t, c.action, c.params, c.status, c.code, c.message)
			if p := c.params["AccountPassword"]; len(p) >= 5 && strings.Contains(e["Message"], p) {
				t.Errorf("message repeats the password: %q", e["Message"])
			}
			if after := m.aclState(); after != before {
				t.Fatalf("the refused call changed the users:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

// moat's own ACL actions: raw rules (with selectors) in and ACL GETUSER's data out, an aclfile exported
// and imported again unchanged, an import that replaces every user at once (dropping the sources and
// descriptions of users it removes), and a user deleted.
func TestACLUserActions(t *testing.T) {
	m := startMoat(t)
	m.modify(m.inst, "local", "Cover", "127.0.0.0/8")
	m.mustCall("ModifyACLUser", map[string]string{"InstanceId": m.inst, "UserName": "alice",
		"Rules": "on >Alice_pw1 ~app:* +@read (~log:* %R~audit:* +xadd +get)"})
	m.mustCall("ModifyAccountSources", map[string]string{"InstanceId": m.inst, "UserName": "alice", "Sources": "127.0.0.0/24"})
	hash := acl.HashPassword([]byte("Alice_pw1"))

	var got struct {
		ACLList []string
		Users   struct {
			User []struct {
				UserName, Commands, Keys, Channels, AccountPrivilege string
				Flags, Passwords, Sources                            []string
				Selectors                                            []struct{ Commands, Keys, Channels string }
			}
		}
	}
	describe := func(params map[string]string) {
		t.Helper()
		b, _ := json.Marshal(m.mustCall("DescribeACLUsers", params))
		got.ACLList, got.Users.User = nil, nil
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
	}
	describe(map[string]string{"InstanceId": m.inst})
	wantList := []string{
		"user alice on #" + hash + " ~app:* resetchannels -@all +@read (~log:* %R~audit:* resetchannels -@all +get +xadd)",
		"user default on nopass ~* &* +@all",
	}
	if strings.Join(got.ACLList, "\n") != strings.Join(wantList, "\n") {
		t.Fatalf("ACLList:\n%s\nwant\n%s", strings.Join(got.ACLList, "\n"), strings.Join(wantList, "\n"))
	}
	a := got.Users.User[0]
	if a.UserName != "alice" || strings.Join(a.Flags, ",") != "on" || len(a.Passwords) != 1 || a.Passwords[0] != hash ||
		a.Commands != "-@all +@read" || a.Keys != "~app:*" || a.Channels != "" || a.AccountPrivilege != "RoleCustom" ||
		strings.Join(a.Sources, ",") != "127.0.0.0/24" || len(a.Selectors) != 1 ||
		a.Selectors[0].Keys != "~log:* %R~audit:*" || a.Selectors[0].Commands != "-@all +get +xadd" {
		t.Fatalf("alice as described: %+v", a)
	}
	describe(map[string]string{"InstanceId": m.inst, "UserName": "default"})
	if len(got.ACLList) != 1 || len(got.Users.User) != 1 || got.Users.User[0].UserName != "default" || len(got.Users.User[0].Sources) != 0 {
		t.Fatalf("DescribeACLUsers UserName=default: %+v", got)
	}
	c, reply := m.login("127.0.0.2", "alice", "Alice_pw1")
	if reply != "+OK" || c.do("SET", "app:1", "x") != "-NOPERM this user has no permissions to run the 'set' command" {
		t.Fatalf("alice through the gateway: AUTH %q", reply)
	}

	// Export, import the same text: nothing changes (and nothing is audited).
	text := m.mustCall("ExportACL", map[string]string{"InstanceId": m.inst})["ACLFile"].(string)
	if text != strings.Join(wantList, "\n")+"\n" {
		t.Fatalf("ExportACL:\n%s", text)
	}
	before := m.aclState()
	out := m.mustCall("ImportACL", map[string]string{"InstanceId": m.inst, "ACLFile": text})
	if out["Users"] != float64(2) || m.aclState() != before {
		t.Fatalf("re-importing the export: %v\n%s\n%s", out, before, m.aclState())
	}

	// An import replaces every user: alice goes (with her sources), bob comes, default is fresh again.
	bob := "user bob on #" + acl.HashPassword([]byte("Bob_pass1")) + " ~* &* +@all -@dangerous +info\n"
	m.mustCall("ImportACL", map[string]string{"InstanceId": m.inst, "ACLFile": bob})
	describe(map[string]string{"InstanceId": m.inst})
	tb, err := acl.LoadDefault()
	if err != nil {
		t.Fatal(err)
	}
	ref := acl.NewUsers(tb, acl.Config{})
	if err := ref.SetUser("bob", strings.Fields(bob)[2:]...); err != nil {
		t.Fatal(err)
	}
	if len(got.ACLList) != 2 || got.ACLList[0] != ref.List()[0] || got.ACLList[1] != "user default on nopass ~* &* +@all" ||
		got.Users.User[0].AccountPrivilege != "RoleReadWrite" {
		t.Fatalf("after importing bob: %+v", got)
	}
	if _, r := m.login("127.0.0.2", "alice", "Alice_pw1"); !strings.HasPrefix(r, "-WRONGPASS") {
		t.Fatalf("alice after the import: %q", r)
	}
	if _, r := m.login("127.0.0.2", "bob", "Bob_pass1"); r != "+OK" {
		t.Fatalf("bob after the import: %q", r)
	}
	m.mustCall("ModifyACLUser", map[string]string{"InstanceId": m.inst, "UserName": "alice", "Rules": "on >Alice_pw1"})
	describe(map[string]string{"InstanceId": m.inst, "UserName": "alice"})
	if len(got.Users.User[0].Sources) != 0 {
		t.Fatalf("a re-created alice inherits the deleted one's sources: %+v", got.Users.User[0])
	}
	m.mustCall("DeleteACLUser", map[string]string{"InstanceId": m.inst, "UserName": "bob"})
	if _, r := m.login("127.0.0.2", "bob", "Bob_pass1"); !strings.HasPrefix(r, "-WRONGPASS") {
		t.Fatalf("bob after DeleteACLUser: %q", r)
	}
	entries := m.mustCall("DescribeAuditLogs", map[string]string{"InstanceId": m.inst, "ActionName": "ImportACL"})["AuditLogs"].(map[string]any)["AuditLog"].([]any)
	if len(entries) != 1 {
		t.Fatalf("ImportACL audit entries: %d, want 1 (the unchanged import is not a change)", len(entries))
	}
}

// checkUser is CheckAccess with a user.
type checkUser struct {
	Allowed bool
	Reason  string
	User    *struct {
		UserName                          string
		Exists, Enabled, SourceRestricted bool
		Sources                           []string
		Allowed                           bool
		Reason                            string
		Matches                           []struct{ Group, Entry string }
	}
}

func (m *moat) checkUser(src, user string) checkUser {
	m.t.Helper()
	b, _ := json.Marshal(m.mustCall("CheckAccess", map[string]string{"InstanceId": m.inst, "SourceIp": src, "UserName": user}))
	var v checkUser
	if err := json.Unmarshal(b, &v); err != nil {
		m.t.Fatal(err)
	}
	return v
}

// A user bound to sources (A4) logs in only from them, which CheckAccess explains (API6) without a
// connection: the entry or whitelist group that admits the address, or that none does; an unknown or
// disabled user; and, without UserName, the answer it always gave.
func TestAccountSourcesAndCheckAccess(t *testing.T) {
	m := startMoat(t)
	m.modify(m.inst, "local", "Cover", "127.0.0.0/8")
	m.modify(m.inst, "ops", "Cover", "127.0.0.3")
	m.mustCall("CreateAccount", map[string]string{"InstanceId": m.inst, "AccountName": "app", "AccountPassword": "App_pass1"})
	out := m.mustCall("ModifyAccountSources", map[string]string{"InstanceId": m.inst, "UserName": "app", "Sources": "127.0.0.2,ops"})
	if s, _ := json.Marshal(out["Sources"]); string(s) != `["127.0.0.2","ops"]` {
		t.Fatalf("ModifyAccountSources answered %v", out)
	}

	for _, tc := range []struct {
		src, user string
		allowed   bool
		group     string // of the match; "" for the user's own entry
		entry     string
		reason    string
	}{
		{"127.0.0.2", "app", true, "", "127.0.0.2", `user "app" may log in from 127.0.0.2: its source entry 127.0.0.2 admits it`},
		{"127.0.0.3", "app", true, "ops", "127.0.0.3", `user "app" may log in from 127.0.0.3: whitelist group "ops" entry 127.0.0.3 admits it`},
		{"127.0.0.4", "app", false, "", "", `user "app" may not log in from 127.0.0.4: none of its sources (127.0.0.2,ops) admits it; AUTH gets WRONGPASS`},
		{"127.0.0.4", "default", true, "", "", `user "default" is on and may log in from any address the instance admits`},
		{"127.0.0.4", "nosuch", false, "", "", `user "nosuch" does not exist: AUTH gets WRONGPASS`},
	} {
		v := m.checkUser(tc.src, tc.user)
		u := v.User
		if !v.Allowed || u == nil || u.UserName != tc.user || u.Allowed != tc.allowed || u.Reason != tc.reason {
			t.Errorf("%s as %s: %+v %+v", tc.src, tc.user, v, u)
			continue
		}
		if tc.entry != "" && (len(u.Matches) != 1 || u.Matches[0].Group != tc.group || u.Matches[0].Entry != tc.entry) {
			t.Errorf("%s as %s: matches %+v", tc.src, tc.user, u.Matches)
		}
		// The gateway agrees.
		if tc.user == "app" {
			_, r := m.login(tc.src, "app", "App_pass1")
			if (r == "+OK") != tc.allowed {
				t.Errorf("AUTH app from %s: %q, CheckAccess says allowed=%v", tc.src, r, tc.allowed)
			}
		}
	}
	// How a restricted user's scripts run (here: the embedded engine has no ACL users, so moat's scripting
	// rule refuses them to any user it restricts, by commands too: nothing would judge what they run).
	scripts := func(user string) any {
		out := m.mustCall("CheckAccess", map[string]string{"InstanceId": m.inst, "SourceIp": "127.0.0.2", "UserName": user})
		return out["User"].(map[string]any)["Scripts"]
	}
	if s, _ := scripts("app").(string); !strings.HasPrefix(s, "scripts and functions are refused (NOPERM): the backend does not hold its ACL identity") {
		t.Errorf("CheckAccess app: Scripts %q", s)
	}
	if s, ok := scripts("default").(string); ok {
		t.Errorf("CheckAccess default (unrestricted): Scripts %q", s)
	}
	// Without UserName the answer has no User, as before.
	plain := m.mustCall("CheckAccess", map[string]string{"InstanceId": m.inst, "SourceIp": "127.0.0.4"})
	if _, ok := plain["User"]; ok || plain["Allowed"] != true {
		t.Fatalf("CheckAccess without UserName: %v", plain)
	}
	// Not admitted at all: the connection's verdict says so; the user's is about the user only.
	if v := m.checkUser("192.0.2.1", "app"); v.Allowed || v.User.Allowed {
		t.Fatalf("from outside the whitelist: %+v %+v", v, v.User)
	}

	m.mustCall("ModifyACLUser", map[string]string{"InstanceId": m.inst, "UserName": "app", "Rules": "off"})
	if u := m.checkUser("127.0.0.2", "app").User; u.Allowed || !u.Exists || u.Enabled || u.Reason != `user "app" is off: AUTH gets WRONGPASS` {
		t.Fatalf("a disabled user: %+v", u)
	}
	m.mustCall("ModifyACLUser", map[string]string{"InstanceId": m.inst, "UserName": "app", "Rules": "on"})
	// An empty Sources removes the restriction.
	m.mustCall("ModifyAccountSources", map[string]string{"InstanceId": m.inst, "UserName": "app", "Sources": ""})
	if u := m.checkUser("127.0.0.4", "app").User; !u.Allowed || u.SourceRestricted || len(u.Sources) != 0 {
		t.Fatalf("after removing the restriction: %+v", u)
	}
	if _, r := m.login("127.0.0.4", "app", "App_pass1"); r != "+OK" {
		t.Fatalf("AUTH app from 127.0.0.4 without a restriction: %q", r)
	}
	// A source restriction of 127.0.0.1 alone admits nobody (W6's placeholder), and says so.
	m.mustCall("ModifyAccountSources", map[string]string{"InstanceId": m.inst, "UserName": "app", "Sources": "127.0.0.1"})
	if u := m.checkUser("127.0.0.1", "app").User; u.Allowed || !strings.Contains(u.Reason, "only 127.0.0.1 is listed") {
		t.Fatalf("a restriction to 127.0.0.1: %+v", u)
	}
}

// Passwords given to the account and ACL actions, accepted or refused, are never answered, logged,
// audited or stored in clear: the store holds only the SHA-256 hash that ACL LIST shows, the audit log
// not even that, and an error quoting a password rule masks it.
func TestAccountPasswordsNeverInClear(t *testing.T) {
	logs := &redistest.Buffer{}
	m := &moat{t: t, dir: t.TempDir(), logw: logs}
	m.start()
	t.Cleanup(m.stop)
	secrets := []string{"Clear_pw_one1", "Clear_pw_two2", "Clear_pw_three3", "Clear_pw_four4", "Clear_pw_five5", "badpass66", "Clear_pw_six6", "Clear_pw_seven7", "Clear_pw_eight8"}
	var answers []string
	call := func(action string, params map[string]string, wantStatus int) {
		t.Helper()
		v := url.Values{}
		for k, s := range params {
			v.Set(k, s)
		}
		params["InstanceId"] = m.inst
		v.Set("InstanceId", m.inst)
		status, body := m.do(action, rawRequest{Params: v})
		if status != wantStatus {
			t.Fatalf("%s: HTTP %d %s, want %d", action, status, body, wantStatus)
		}
		answers = append(answers, string(body))
	}
	call("CreateAccount", map[string]string{"AccountName": "app", "AccountPassword": secrets[0]}, 200)
	call("ResetAccountPassword", map[string]string{"AccountName": "app", "AccountPassword": secrets[1]}, 200)
	call("ModifyACLUser", map[string]string{"UserName": "app", "Rules": ">" + secrets[2] + " <" + secrets[3]}, 400)
	call("ModifyACLUser", map[string]string{"UserName": "app", "Rules": "on (>" + secrets[4] + " ~x)"}, 400)
	call("CreateAccount", map[string]string{"AccountName": "bob", "AccountPassword": secrets[5]}, 400)
	call("ImportACL", map[string]string{"ACLFile": "user eve on >" + secrets[6] + " <" + secrets[7] + "\n"}, 400)
	call("ModifyACLUser", map[string]string{"UserName": "app", "Rules": ">" + secrets[8]}, 200)
	message := func(body string) string {
		var e struct{ Message string }
		json.Unmarshal([]byte(body), &e)
		return e.Message
	}
	if m2, m3 := message(answers[2]), message(answers[3]); !strings.Contains(m2, "modifier '<***': The password you are trying to remove") ||
		!strings.Contains(m3, "modifier '(>*** ~x)'") {
		t.Fatalf("the refusals do not show the masked rule: %q, %q", m2, m3)
	}
	for _, a := range []string{"DescribeAccounts", "DescribeACLUsers", "ExportACL"} {
		call(a, map[string]string{}, 200)
	}
	audit := m.mustCall("DescribeAuditLogs", map[string]string{"PageSize": "1000"})
	b, _ := json.Marshal(audit)
	// Issue 15.7: the audit log is readable with Describe*: it shows the changed users with their hashes
	// masked, never the hashes themselves.
	if strings.Contains(string(b), acl.HashPassword([]byte(secrets[0]))) || strings.Contains(string(b), acl.HashPassword([]byte(secrets[8]))) ||
		!strings.Contains(string(b), "user app on #xxxxx") {
		t.Fatalf("the audit log shows the users' hashes, or not the users: %s", b)
	}
	m.stop()
	state, err := os.ReadFile(filepath.Join(m.dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range secrets {
		for what, text := range map[string]string{"an answer": strings.Join(answers, "\n"), "the audit log": string(b), "the log": logs.String(), "state.db": string(state)} {
			if strings.Contains(text, s) {
				t.Errorf("%s holds the password %q in clear", what, s)
			}
		}
	}
}
