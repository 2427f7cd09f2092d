// The sandbox page: act as any member of the local Discord. Every text from the server goes in with textContent.
"use strict";
(() => {
  const body = document.body;
  const $ = (id) => document.getElementById(id);
  const SUB = 1, GROUP = 2, STRING = 3, INTEGER = 4, BOOLEAN = 5, USER = 6, CHANNEL = 7, ROLE = 8,
    MENTIONABLE = 9, NUMBER = 10;
  const view = { me: localStorage.getItem("sandbox-as") || "", channel: "", version: -1, data: null,
    commandKey: "", modalToken: "" };

  function el(tag, props = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props)) {
      if (key === "text") node.textContent = value;
      else if (key === "className") node.className = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else if (key === "dataset") Object.assign(node.dataset, value);
      else if (value !== undefined && value !== null && value !== false) node.setAttribute(key, value);
    }
    for (const child of children) if (child) node.append(child);
    return node;
  }

  function showError(text) { $("error").textContent = text || ""; }

  async function post(action) {
    showError("");
    const response = await fetch(body.dataset.actUrl, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": body.dataset.csrf },
      body: JSON.stringify({ as: view.me, channel: view.channel, locale: $("locale").value, ...action }),
    });
    const answer = await response.json().catch(() => ({ ok: false, error: `HTTP ${response.status}` }));
    if (!answer.ok) showError(answer.error || "refused");
    await refresh(true);
    return answer;
  }

  // ---- text with mentions --------------------------------------------------------------------
  function rich(text) {  // mentions, **bold**, *italic*, code, times, [links](https://...) as Discord shows them; text only
    const names = view.data.names;
    const span = el("span");
    const pattern = /<(@!?|@&|#)(\d+)>|\*\*([^*]+)\*\*|\*([^*\s][^*]*)\*|```(?:[a-z]*\n)?([\s\S]*?)```|`([^`]+)`|<t:(\d+)(?::[tTdDfFR])?>|\[([^\]]+)\]\((https?:\/\/[^)\s]+)\)/g;
    let last = 0, match;
    while ((match = pattern.exec(text)) !== null) {
      span.append(document.createTextNode(text.slice(last, match.index)));
      if (match[1]) {
        const [kind, id] = [match[1], match[2]];
        const label = kind === "#" ? `#${names.channels[id] || id}`
          : kind === "@&" ? `@${names.roles[id] || id}` : `@${names.users[id] || id}`;
        span.append(el("span", { className: "mention", text: label }));
      } else if (match[3] !== undefined) span.append(el("strong", {}, rich(match[3])));
      else if (match[4] !== undefined) span.append(el("em", {}, rich(match[4])));
      else if (match[5] !== undefined) span.append(el("pre", { text: match[5].replace(/\n$/, "") }));
      else if (match[6] !== undefined) span.append(el("code", { text: match[6] }));
      else if (match[7] !== undefined) span.append(el("time", { text: new Date(Number(match[7]) * 1000).toLocaleString() }));
      else span.append(el("a", { href: match[9], target: "_blank", rel: "noopener noreferrer", text: match[8] }));
      last = pattern.lastIndex;
    }
    span.append(document.createTextNode(text.slice(last)));
    return span;
  }

  // ---- messages ------------------------------------------------------------------------------
  function embed(data) {
    const box = el("div", { className: "embed" });
    if (data.color) box.style.borderLeftColor = `#${Number(data.color).toString(16).padStart(6, "0")}`;
    if (data.author && data.author.name) box.append(el("div", { className: "footer", text: data.author.name }));
    if (data.title) box.append(el("div", { className: "title", text: data.title }));
    if (data.description) box.append(el("div", {}, rich(data.description)));
    for (const field of data.fields || []) {
      box.append(el("div", { className: "field" }, el("div", { className: "name", text: field.name }),
        el("div", {}, rich(field.value || ""))));
    }
    if (data.footer && data.footer.text) box.append(el("div", { className: "footer", text: data.footer.text }));
    return box;
  }

  function entityOptions(type) {
    const data = view.data;
    const users = data.members.map((m) => [m.id, m.name]);
    const roles = data.roles.map((r) => [r.id, `@${r.name}`]);
    const channels = Object.entries(data.names.channels).map(([id, name]) => [id, `#${name}`]);
    return { 5: users, 6: roles, 7: users.concat(roles), 8: channels }[type] || [];
  }

  function selectMenu(comp, message) {
    const multiple = (comp.max_values || 1) > 1;
    const select = el("select", { "aria-label": comp.placeholder || "Choose", multiple: multiple || undefined,
      disabled: comp.disabled || undefined, dataset: { customId: comp.custom_id } });
    if (!multiple) select.append(el("option", { value: "", text: comp.placeholder || "Choose…" }));
    const options = comp.type === 3 ? comp.options.map((o) => [o.value, `${o.emoji && o.emoji.name ? o.emoji.name + " " : ""}${o.label}`])
      : entityOptions(comp.type);
    for (const [value, label] of options) select.append(el("option", { value, text: label }));
    const send = () => {
      const values = Array.from(select.selectedOptions).map((o) => o.value).filter((v) => v !== "");
      if (values.length) post({ kind: "select", message: message.id, custom_id: comp.custom_id, values });
    };
    if (multiple) {
      return el("span", {}, el("span", { className: "hint", text: comp.placeholder || "" }), select,
        el("button", { type: "button", className: "style-2", text: "Choose", onclick: send }));
    }
    select.addEventListener("change", send);
    return select;
  }

  function components(list, message) {
    const box = el("div", { className: "components" });
    for (const comp of list || []) {
      if (comp.type === 1) {
        box.append(el("div", { className: "row" }, ...comp.components.map((c) => component(c, message))));
      } else box.append(component(comp, message));
    }
    return box;
  }

  function component(comp, message) {
    switch (comp.type) {
      case 2: {
        const label = `${comp.emoji && comp.emoji.name ? comp.emoji.name + " " : ""}${comp.label || ""}`;
        if (comp.style === 5 || !comp.custom_id) {
          return el("button", { type: "button", className: "style-5", disabled: true, text: `${label} ↗` });
        }
        return el("button", { type: "button", className: `style-${comp.style || 2}`, text: label,
          disabled: comp.disabled || undefined, dataset: { customId: comp.custom_id },
          onclick: () => post({ kind: "click", message: message.id, custom_id: comp.custom_id }) });
      }
      case 3: case 5: case 6: case 7: case 8: return selectMenu(comp, message);
      case 9: return el("div", {}, components(comp.components, message), comp.accessory && component(comp.accessory, message));
      case 10: return el("div", { className: "content" }, rich(comp.content || ""));
      case 14: return el("hr");
      case 17: return el("div", { className: "container" }, components(comp.components, message));
      default: return el("span", { className: "hint", text: `[component ${comp.type}]` });
    }
  }

  function renderMessage(message) {
    const box = el("div", { className: `message${message.ephemeral ? " ephemeral" : ""}`, dataset: { id: message.id } });
    if (message.used) box.append(el("div", { className: "used", text: `${message.used.user} used /${message.used.name}` }));
    box.append(el("span", { className: "author", text: message.author }));
    if (message.bot) box.append(el("span", { className: "tag", text: "BOT" }));
    if (message.loading) box.append(el("div", { className: "hint", text: "is thinking…" }));
    if (message.content) box.append(el("div", { className: "content" }, rich(message.content)));
    for (const data of message.embeds) box.append(embed(data));
    if (message.components.length) box.append(components(message.components, message));
    if (message.ephemeral) box.append(el("div", { className: "only-you", text: "Only you can see this" }));
    return box;
  }

  // ---- slash commands ------------------------------------------------------------------------
  function commandPaths() {
    const paths = [];
    for (const cmd of view.data.commands) {
      const walk = (prefix, options, description) => {
        const subs = options.filter((o) => o.type === SUB || o.type === GROUP);
        if (!subs.length) paths.push({ key: prefix.join(" "), description, options });
        for (const sub of subs) walk([...prefix, sub.name], sub.options || [], sub.description);
      };
      walk([cmd.name], cmd.options, cmd.description);
    }
    return paths;
  }

  function optionInput(option) {
    const name = option.name;
    let input;
    if (option.choices && option.choices.length) {
      input = el("select", {});
      if (!option.required) input.append(el("option", { value: "", text: "—" }));
      for (const choice of option.choices) input.append(el("option", { value: choice.value, text: choice.name }));
    } else if ([USER, ROLE, CHANNEL, MENTIONABLE].includes(option.type)) {
      input = el("select", {});
      if (!option.required) input.append(el("option", { value: "", text: "—" }));
      const type = { [USER]: 5, [ROLE]: 6, [CHANNEL]: 8, [MENTIONABLE]: 7 }[option.type];
      for (const [value, label] of entityOptions(type)) input.append(el("option", { value, text: label }));
    } else if (option.type === BOOLEAN) {
      input = el("select", {}, option.required ? null : el("option", { value: "", text: "—" }),
        el("option", { value: "true", text: "True" }), el("option", { value: "false", text: "False" }));
    } else {
      const numeric = option.type === INTEGER || option.type === NUMBER;
      input = el("input", { type: numeric ? "number" : "text", step: option.type === NUMBER ? "any" : undefined,
        min: option.min_value, max: option.max_value, maxlength: option.max_length, required: option.required || undefined });
      if (option.autocomplete) {
        const list = el("datalist", { id: `ac-${name}` });
        input.setAttribute("list", list.id);
        input.addEventListener("input", async () => {
          const answer = await post({ kind: "autocomplete", command: view.commandKey, options: currentOptions(),
            focused: name });
          list.replaceChildren(...(answer.choices || []).map((c) => el("option", { value: c.value, text: c.name })));
        });
        return el("label", { text: `${name}${option.required ? " *" : ""}` }, input, list);
      }
    }
    input.name = name;
    input.dataset.option = name;
    return el("label", { title: option.description || "", text: `${name}${option.required ? " *" : ""}` }, input);
  }

  function currentOptions() {
    const values = {};
    for (const input of $("command-options").querySelectorAll("[data-option]")) values[input.dataset.option] = input.value;
    return values;
  }

  function renderCommandOptions() {
    const path = commandPaths().find((p) => p.key === view.commandKey);
    $("command-options").replaceChildren(...(path ? path.options.map(optionInput) : []));
  }

  function renderCommands() {
    const select = $("command");
    const paths = commandPaths();
    const keys = paths.map((p) => p.key).join("|");
    if (select.dataset.keys !== keys) {
      select.dataset.keys = keys;
      select.replaceChildren(...paths.map((p) => el("option", { value: p.key, text: `/${p.key}`, title: p.description })));
      if (!paths.some((p) => p.key === view.commandKey)) view.commandKey = paths.length ? paths[0].key : "";
      select.value = view.commandKey;
      renderCommandOptions();
    }
  }

  // ---- modal ---------------------------------------------------------------------------------
  function modalInput(comp, label) {
    if (comp.type === 4) {
      const input = comp.style === 2 ? el("textarea", { rows: 4 }) : el("input", { type: "text" });
      input.dataset.field = comp.custom_id;
      input.value = comp.value || "";
      if (comp.placeholder) input.placeholder = comp.placeholder;
      if (comp.max_length) input.maxLength = comp.max_length;
      return el("label", { text: label || comp.label || comp.custom_id }, input);
    }
    if ([3, 5, 6, 7, 8].includes(comp.type)) {
      const select = el("select", { multiple: (comp.max_values || 1) > 1 || undefined, dataset: { field: comp.custom_id, multi: "1" } });
      const options = comp.type === 3 ? comp.options.map((o) => [o.value, o.label]) : entityOptions(comp.type);
      for (const [value, text] of options) select.append(el("option", { value, text }));
      return el("label", { text: label || comp.placeholder || comp.custom_id }, select);
    }
    if (comp.type === 10) return el("p", {}, rich(comp.content || ""));
    return null;
  }

  function renderModal(modal) {
    const box = $("modal");
    if (!modal) { box.hidden = true; view.modalToken = ""; return; }
    if (view.modalToken === modal.token) return;
    view.modalToken = modal.token;
    $("modal-title").textContent = modal.title;
    const fields = [];
    for (const comp of modal.components || []) {
      if (comp.type === 1) for (const c of comp.components) fields.push(modalInput(c));
      else if (comp.type === 18) fields.push(modalInput(comp.component, comp.label));
      else fields.push(modalInput(comp));
    }
    $("modal-fields").replaceChildren(...fields.filter(Boolean));
    box.hidden = false;
  }

  // ---- the whole page --------------------------------------------------------------------------
  function render() {
    const data = view.data;
    const members = $("member");
    if (members.options.length !== data.members.length) {
      members.replaceChildren(...data.members.map((m) => el("option", { value: m.id, text: `${m.name} (@${m.username})` })));
    }
    members.value = data.me;
    const me = data.members.find((m) => m.id === data.me);
    $("member-note").textContent = me ? `${me.note}${me.roles.length ? " · roles: " + me.roles.join(", ") : ""}` : "";
    view.channel = data.channel;
    const nav = [];
    let category = null;
    for (const channel of data.channels) {
      if (channel.category !== category) {
        category = channel.category;
        if (category) nav.push(el("div", { className: "category", text: category }));
      }
      nav.push(el("button", { type: "button", className: channel.id === data.channel ? "active" : "",
        text: channel.id === "dm" ? channel.name : `# ${channel.name}`, dataset: { channel: channel.id },
        onclick: () => { view.channel = channel.id; refresh(true); } }));
    }
    $("channels").replaceChildren(...nav);
    const current = data.channels.find((c) => c.id === data.channel);
    $("channel-title").textContent = current.id === "dm" ? current.name : `# ${current.name}`;
    $("channel-topic").textContent = current.topic;
    $("message-text").disabled = !current.can_send;
    $("message-text").placeholder = current.can_send ? `Message ${current.id === "dm" ? "the bot" : "#" + current.name}`
      : "You cannot write here";
    const list = $("messages");
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    list.replaceChildren(...data.messages.map(renderMessage));
    if (atBottom) list.scrollTop = list.scrollHeight;
    renderCommands();
    renderModal(data.modal);
    renderRoblox(data.roblox);
  }

  function renderRoblox(accounts) {
    const select = $("roblox-account");
    const names = accounts.map((a) => a.name).join("|");
    if (select.dataset.names !== names) {
      select.dataset.names = names;
      select.replaceChildren(...accounts.map((a) => el("option", { value: a.id, text: a.name })));
      showAbout();
    }
  }

  function showAbout() {
    const account = view.data.roblox.find((a) => a.id === $("roblox-account").value);
    $("roblox-about").value = account ? account.description : "";
  }

  let pending = null;
  async function refresh(force) {
    if (pending) {  // one request at a time; a forced one runs again after it (with the newest choices)
      await pending;
      return force ? refresh(true) : undefined;
    }
    pending = (async () => {
      const asked = { me: view.me, channel: view.channel };
      const query = new URLSearchParams({ as: asked.me, channel: asked.channel });
      const response = await fetch(`${body.dataset.stateUrl}?${query}`, { credentials: "same-origin" });
      if (!response.ok) { showError(`the sandbox answered ${response.status}`); return; }
      const data = await response.json();
      if (asked.me !== view.me || asked.channel !== view.channel) return;  // chosen meanwhile: asked again
      const changed = force || !view.data || data.version !== view.version || data.me !== view.data.me
        || data.channel !== view.data.channel;
      view.data = data;
      view.me = data.me;
      view.version = data.version;
      if (changed) render();
    })().finally(() => { pending = null; });
    return pending;
  }

  $("member").addEventListener("change", (event) => {
    view.me = event.target.value;
    localStorage.setItem("sandbox-as", view.me);
    view.modalToken = "";
    $("command").dataset.keys = "";
    refresh(true);
  });
  $("command").addEventListener("change", (event) => { view.commandKey = event.target.value; renderCommandOptions(); });
  $("command-form").addEventListener("submit", (event) => {
    event.preventDefault();
    if (view.commandKey) post({ kind: "slash", command: view.commandKey, options: currentOptions() });
  });
  $("message-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = $("message-text");
    if (input.value.trim()) post({ kind: "message", content: input.value }).then(() => { input.value = ""; });
  });
  $("modal-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const values = {};
    for (const field of $("modal-fields").querySelectorAll("[data-field]")) {
      values[field.dataset.field] = field.dataset.multi ? Array.from(field.selectedOptions).map((o) => o.value) : field.value;
    }
    post({ kind: "modal", token: view.modalToken, values });
  });
  $("locale").value = localStorage.getItem("sandbox-locale") || "en-US";
  $("locale").addEventListener("change", () => localStorage.setItem("sandbox-locale", $("locale").value));
  $("roblox-account").addEventListener("change", showAbout);
  $("roblox-form").addEventListener("submit", (event) => {
    event.preventDefault();
    post({ kind: "roblox", account: $("roblox-account").value, description: $("roblox-about").value });
  });
  $("modal-cancel").addEventListener("click", () => post({ kind: "dismiss", token: view.modalToken }));

  refresh(true);
  setInterval(() => refresh(false), 700);
})();
