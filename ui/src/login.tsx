import { useState } from "preact/hooks";
import type { Credentials } from "./connection.js";

/**
 * The person's own broker user and password: the broker's ACL decides what they see and may do. Kept in
 * memory for this page only (never in storage), so a reload asks again.
 */
export function LoginForm({
  broker,
  problem,
  onLogin,
}: {
  broker: string;
  problem?: string;
  onLogin: (c: Credentials) => void;
}) {
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  return (
    <main class="login">
      <h1>qga-mqtt dashboard</h1>
      <form
        aria-label="Log in to the broker"
        onSubmit={(event) => {
          event.preventDefault();
          onLogin({ username, password });
        }}
      >
        <p>
          Log in to the MQTT broker <code>{broker}</code> with your own user.
        </p>
        <label>
          User name
          <input
            autocomplete="username"
            value={username}
            onInput={(e) => setUsername(e.currentTarget.value)}
          />
        </label>
        <label>
          Password
          <input
            type="password"
            autocomplete="current-password"
            value={password}
            onInput={(e) => setPassword(e.currentTarget.value)}
          />
        </label>
        <button type="submit">Connect</button>
        <div role="status">{problem ? <p class="error">{problem}</p> : null}</div>
      </form>
    </main>
  );
}
