// The web chat with the Vercel AI SDK's useChat, against streamkit's AI SDK endpoint.
//
// app.py serves it at /usechat once bundled (see README.md beside this file). useChat
// POSTs the conversation (UIMessages) to /api/ai-sdk/chat, which answers with
// sse_response(..., protocol="ai-sdk"); "model" rides along in the request body.
import { useChat } from "@ai-sdk/react";
import { DefaultChatTransport } from "ai";
import { useEffect, useRef, useState } from "react";
import { createRoot } from "react-dom/client";

function Part({ part }) {
  if (part.type === "text") return <div className="text">{part.text}</div>;
  if (part.type === "reasoning") return <div className="reasoning">{part.text}</div>;
  if (part.type === "source-url") {
    return (
      <a className="source" href={part.url} target="_blank" rel="noreferrer">
        {part.title || part.url}
      </a>
    );
  }
  if (part.type === "dynamic-tool" || part.type.startsWith("tool-")) {
    const name = part.type === "dynamic-tool" ? part.toolName : part.type.slice("tool-".length);
    return (
      <div className="tool">
        {name}({JSON.stringify(part.input ?? {})}) · {part.state}
      </div>
    );
  }
  return null; // step-start, data-* ...
}

function Stats({ message }) {
  // Only a finished answer has metadata (from the finish part): a stopped or failed one shows none.
  const meta = message?.role === "assistant" ? message.metadata : undefined;
  if (!meta) return null;
  const u = meta.usage ?? {};
  return (
    <dl id="stats">
      <dt>model</dt>
      <dd id="model-name">{meta.model}</dd>
      <dt>finish reason</dt>
      <dd id="finish">{meta.finishReason}</dd>
      <dt>token usage</dt>
      <dd id="usage">
        {u.inputTokens ?? "?"} input + {u.outputTokens ?? "?"} output = {u.totalTokens ?? "?"} tokens
      </dd>
    </dl>
  );
}

function Chat() {
  const [offers, setOffers] = useState([]);
  const [model, setModel] = useState("");
  const [input, setInput] = useState("Write me a song about sparkling water.");
  const modelRef = useRef(model);
  modelRef.current = model;
  const [transport] = useState(
    () => new DefaultChatTransport({ api: "/api/ai-sdk/chat", body: () => ({ model: modelRef.current }) }),
  );
  const { messages, sendMessage, status, stop, error } = useChat({ transport });

  useEffect(() => {
    fetch("/api/models")
      .then((r) => r.json())
      .then((list) => {
        setOffers(list);
        if (list.length) setModel(list[0].id);
      });
  }, []);
  useEffect(() => {
    document.body.dataset.status = status;
  }, [status]);

  const busy = status === "submitted" || status === "streaming";
  const submit = (e) => {
    e.preventDefault();
    if (!input.trim() || busy) return;
    sendMessage({ text: input });
  };
  return (
    <main>
      <h1>streamkit + useChat</h1>
      <p className="sub">
        <code>useChat</code> from <code>@ai-sdk/react</code>, reading{" "}
        <code>sse_response(..., protocol="ai-sdk")</code>. Stop cancels the upstream stream.
      </p>
      <form onSubmit={submit}>
        <input id="prompt" value={input} onChange={(e) => setInput(e.target.value)} aria-label="Prompt" />
        <select id="model" value={model} onChange={(e) => setModel(e.target.value)} aria-label="Model">
          {offers.map((o) => (
            <option key={o.id} value={o.id}>
              {o.label}
            </option>
          ))}
        </select>
        <button id="send" type="submit" disabled={busy}>
          Send
        </button>
        <button id="stop" type="button" disabled={!busy} onClick={() => stop()}>
          Stop
        </button>
      </form>
      <div id="messages">
        {messages.map((m) => (
          <div key={m.id} className={`message ${m.role}`}>
            {m.parts.map((part, i) => (
              <Part key={i} part={part} />
            ))}
          </div>
        ))}
      </div>
      <div id="status">{error ? <span className="err">{error.message}</span> : status}</div>
      {status === "ready" && <Stats message={messages[messages.length - 1]} />}
    </main>
  );
}

createRoot(document.getElementById("root")).render(<Chat />);
