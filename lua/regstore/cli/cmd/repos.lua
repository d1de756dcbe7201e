--- regstore repos: the registry's repositories (its catalog).
return {
  name = "repos",
  summary = "list the registry's repositories",
  usage = "regstore repos [--json]",
  help = 'Sorted in byte order, as GET /v2/_catalog. JSON: [names].',
  options = { { "json", "flag", "print one JSON array" } },
  run = function(env)
    local names, msg, code = env.reg:repositories()
    if not names then return env.fail(msg, code) end
    if env.json then
      env.emit(names)
    else
      for _, n in ipairs(names) do env.print("%s", n) end
    end
    return 0
  end,
}
